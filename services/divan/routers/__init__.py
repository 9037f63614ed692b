"""HTTP routes of divan-api, one module per resource; ``api_router`` gathers them."""

from fastapi import APIRouter

from services.divan.routers import activities, chat, invites, leaderboard, presence, proximity, rooms

api_router = APIRouter()
for module in (presence, proximity, invites, chat, rooms, activities, leaderboard):
    api_router.include_router(module.router)
